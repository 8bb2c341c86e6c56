/**
 * Imported first by boot/terminal-main.ts, before any other module, so that every module after it
 * loads through the V8 code cache (boot/code-cache.ts). Only when the compiled terminal-main.js is
 * the process's main module: tests and ts-node runs that import terminal-main compile as usual.
 */
import { join } from 'node:path';
import { CodeCacheControl, CodeCacheStats, installCodeCache, installedCodeCache, installedCodeCacheControl } from './code-cache';

// In the bundle the loader (dist/bundle/terminal.js) installed it before this module ran: its figures.
export const codeCache: CodeCacheStats | undefined = require.main?.filename === join(__dirname, 'terminal-main.js') ? installCodeCache() : installedCodeCache();
/** What the terminal tells the cache (its machine state: written at the first idle); undefined when off. */
export const codeCacheControl: CodeCacheControl | undefined = installedCodeCacheControl();
