// Forward LM (reads sentences left to right); see language_model.libsonnet.
(import 'language_model.libsonnet') { direction:: 'forward' }
