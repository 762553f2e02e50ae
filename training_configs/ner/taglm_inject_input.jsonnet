// Ablation: the LM states concatenated to the input of the first biRNN layer.
(import 'taglm.jsonnet') { lm_injection_layer:: 0 }
