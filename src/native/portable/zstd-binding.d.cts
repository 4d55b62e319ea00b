import type * as ZstdBinding from 'zstd-napi/binding.js';
declare const zstd: typeof ZstdBinding;
export = zstd;
