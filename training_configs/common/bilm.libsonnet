// TagLM's language-model embedding (Peters et al., 2017, Sec. 2.3-2.4): the top-layer states of
// a pretrained forward LM and a separate backward LM, frozen, concatenated [h_fwd; h_bwd] and
// injected into the task biRNN at `lm_injection_layer` (tagger.libsonnet; default 1, after the
// first layer, the paper's best). Add this object to a task libsonnet:
//
//   (import 'ner.libsonnet') + (import 'bilm.libsonnet')
//
// FORWARD_LM / BACKWARD_LM: `taglm_language_model` archives (full or `export_lm` encoder-only)
// from training_configs/lm; LM_STATE_DIM: the size of one direction's top-layer states.
{
  lm_archives:: {
    forward_archive: std.extVar('FORWARD_LM'),
    backward_archive: std.extVar('BACKWARD_LM'),
  },
  // 'both' (the paper), 'forward' or 'backward'.
  lm_directions:: 'both',
  // -1: the top LSTM layer (the paper); 0: the LM's token embedding; 1..: LSTM layers.
  lm_layer:: -1,
  lm_state_dim:: std.parseInt(std.extVar('LM_STATE_DIM')),
  lm_dim:: self.lm_state_dim * (if self.lm_directions == 'both' then 2 else 1),
  // The indexer of the LM's own reader (`taglm_lm_text`): character ids, no vocabulary;
  // `cached_elmo_characters` gives allennlp's `elmo_characters` ids, each distinct word's once.
  lm_token_indexer:: { type: 'cached_elmo_characters' },
  // The frozen biLM's states computed once per sentence and reused across epochs (frozen_bilm's
  // `cache`): null (off) or { max_memory_mib: 4096 } (MiB of GPU memory: the states stay on
  // the LM's device; CoNLL-2003's 300k tokens take about 600 MiB at 512 dims), optionally with
  // directory: 'runs/lm_states' (an LMDB store of all of them, which later runs of the same
  // LM, layer and directions reuse). Cached states equal computed ones; only training is faster.
  lm_cache:: null,
  // With the cache, the states of every training and dev sentence are computed before the first
  // epoch, in batches of this many sentences of similar length (`taglm_lm_cache_warmup`), rather
  // than in the tagger's batches during it; 0: no warm-up.
  lm_cache_warmup_batch_size:: std.parseInt(std.extVar('LM_CACHE_WARMUP_BATCH_SIZE')),
  // The LMs' token encoders (character CNN, highway layers, projection) in 'float32', or
  // 'bfloat16' / 'float16' (autocast, as LM training runs them; frozen_bilm's `precision`):
  // faster on a GPU, the states rounded accordingly. float32 until measured for speed and F1.
  lm_precision:: 'float32',
  trainer+: {
    callbacks+: if $.lm_cache != null && $.lm_cache_warmup_batch_size > 0 then [
      { type: 'taglm_lm_cache_warmup', batch_size: $.lm_cache_warmup_batch_size },
    ] else [],
  },
  lm_embedder:: {
    type: 'frozen_bilm',
    pretrained_file: { [k]: $.lm_archives[k] for k in std.objectFields($.lm_archives)
                       if $.lm_directions == 'both' || std.startsWith(k, $.lm_directions) },
    expected_dim: $.lm_dim,
    layer: $.lm_layer,
    directions: $.lm_directions,
    precision: $.lm_precision,
    [if $.lm_cache != null then 'cache']: $.lm_cache,
  },
}
