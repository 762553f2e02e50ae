// Ablation: only the forward LM's states (paper, Sec. 5.1: bidirectional LMs help over forward only).
(import 'taglm.jsonnet') { lm_directions:: 'forward' }
