// Backward LM (reads every sentence reversed); see language_model.libsonnet.
(import 'language_model.libsonnet') { direction:: 'backward' }
