// Seeds of Python's `random`, numpy and torch, all from the SEED environment variable, so
// that one config trains several seeds:
//
//   SEED=1 allennlp train training_configs/ner/baseline.jsonnet -s runs/ner/baseline/seed1
//   SEED=2 allennlp train training_configs/ner/baseline.jsonnet -s runs/ner/baseline/seed2
//
// allennlp passes every environment variable to Jsonnet as an external variable, and
// Jsonnet's std.extVar has no default: without SEED in the environment, the plugin's
// taglm_plugin/common/config_defaults.py (applied when allennlp imports the plugin) supplies it.
//
// Use: `(import '../common/seed.libsonnet') + { ...the config... }`, or add it to the
// top-level object; it sets the top-level keys `random_seed`, `numpy_seed`, `pytorch_seed`.
local seed_text = std.extVar('SEED');
local is_digit(char) = std.member('0123456789', char);
local seed =
  // numpy only takes seeds >= 0.
  assert seed_text != '' && std.all(std.map(is_digit, std.stringChars(seed_text)))
         : 'SEED must be a non-negative integer, got "%s"' % seed_text;
  std.parseInt(seed_text);

{
  random_seed: seed,
  numpy_seed: seed,
  pytorch_seed: seed,
}
