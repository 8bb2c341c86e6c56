/**
 * cbor-x, as the journal's records and checkpoints use it, without its optional native string
 * extractor (cbor-extract). cbor-x loads the extractor when its own module loads unless
 * CBOR_NATIVE_ACCELERATION_DISABLED is "true": that is set here first (a value already set is
 * kept). Why (issue 14 goal 6): the terminal's start need not load an addon (node-gyp-build's
 * search for its prebuilt file, and the dlopen) it gains nothing from: for the journal's small
 * records the JavaScript decoder is the faster one (20,000 record-like maps: 2.6-3.3 µs a record
 * against 3.5-4.8 with the extractor, same run; a 5 MB checkpoint-like map decoded in about the
 * same time either way). Measured alone the start's CPU hardly changed (boot/README.md, "Start
 * time", has the figures for this and lmdb-env.ts's changes together).
 */
process.env.CBOR_NATIVE_ACCELERATION_DISABLED ??= 'true';

// A require, not an import: an import would be hoisted above the line before.
export const { Encoder } = require('cbor-x') as typeof import('cbor-x');
