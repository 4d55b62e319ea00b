// libzstd through zstd-napi's native binding. The path stays a literal require so that
// `bun build --compile` embeds the .node file: zstd-napi's own loader computes the path at run
// time, which a compiled binary cannot follow. (Like addon.cjs, the Node build must copy this file.)
module.exports = require('zstd-napi/build/Release/binding.node');
