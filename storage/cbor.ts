/**
 * cbor-x, as the journal's records and checkpoints use it, without its optional native string
 * extractor (cbor-extract). cbor-x loads the extractor when its own module loads unless
 * CBOR_NATIVE_ACCELERATION_DISABLED is "true": that is set here first (a value already set is
 * kept). Why (issue 14 goal 6): loading the extractor (node-gyp-build's search for its prebuilt
 * addon, detect-libc with node:child_process, the dlopen) took a large part of the terminal's
 * module loading at start; and for the journal's small records the JavaScript decoder is the
 * faster one (20,000 record-like maps: 2.6-3.3 µs a record against 3.5-4.8 with the extractor,
 * same run; a 5 MB checkpoint-like map decoded in about the same time either way).
 */
process.env.CBOR_NATIVE_ACCELERATION_DISABLED ??= 'true';

// A require, not an import: an import would be hoisted above the line before.
export const { Encoder } = require('cbor-x') as typeof import('cbor-x');
