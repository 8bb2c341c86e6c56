/**
 * Child of device-key.test.ts, run under strace: creates the device key file at argv[2] the way
 * the terminal does (runtime/device-key.ts fileDeviceKey), so the test can read the system
 * calls' order (write, fsync, rename or link into place, fsync of the directory).
 */
import { fileDeviceKey } from '../../runtime/device-key';

fileDeviceKey(process.argv[2]).deviceKey();
process.stdout.write('KEY-WRITTEN\n');
