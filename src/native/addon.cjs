// The one static require of the napi addon. It must stay a literal string: `bun build --compile`
// embeds the .node file it names. Loaded lazily so BOLT_AGENT_NATIVE=0 never touches it.
exports.load = function load() {
  return require('../../native/bolt-native.node');
};
