// Ablation: only the backward LM's states.
(import 'taglm.jsonnet') { lm_directions:: 'backward' }
