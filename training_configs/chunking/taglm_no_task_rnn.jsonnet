// Ablation "no task RNN" (paper, Sec. 5: 88.17 F1 on NER): token representation and LM
// states go straight to the dense layer and the CRF.
(import 'taglm.jsonnet') { hidden_sizes:: [], lm_injection_layer:: 0 }
