// Ablation: the LM states concatenated to the output of the second biRNN layer.
(import 'taglm.jsonnet') { lm_injection_layer:: 2 }
