// The TagLM tagger (Peters et al., 2017) and its baseline as one Jsonnet object. Its hidden
// fields (`::`) choose the variant; every config in training_configs/ner and
// training_configs/chunking is this object plus a few overridden fields.
//
//   x_k = [char CNN/RNN(c_k); GloVe(w_k); casing(w_k) if casing_dim > 0] -> taglm_birnn (LM
//   embedding concatenated to the output of layer `lm_injection_layer`) -> dense -> CRF
//
// Paper references are to Peters et al. (ACL 2017), "Semi-supervised sequence tagging with
// bidirectional language models".
local distributed = import 'distributed.libsonnet';
local seed = import 'seed.libsonnet';

{
  // ---- Data (set by ner.libsonnet / chunking.libsonnet) ----
  train_data:: error 'train_data must be set',
  validation_data:: error 'validation_data must be set',
  reader:: error 'reader must be set',
  // Tags given to the model; BIOUL is BIOES written with allennlp's letters (U, L).
  output_tag_scheme:: 'BIOUL',

  // ---- Token representation (Sec. 2.2) ----
  // Word embeddings: pretrained and fine-tuned; lowercased, digits mapped to 0 (the
  // `normalized_single_id` indexer). The paper uses Senna 50d; we use GloVe 6B 50d.
  word_embeddings:: std.extVar('GLOVE'),
  word_dim:: 50,
  // The word vocabulary comes from the training data only (dev and test add no words); every
  // word of `word_embeddings` (all 400k GloVe 6B words) is usable at prediction time from a
  // frozen table beside the trainable one (`taglm_word_embedding`, `tagger_vocabulary`).
  // How fine-tuned and pretrained-only vectors stay in one space: 'vectors' (the paper's plain
  // fine-tuning; words never seen in training get their pretrained vector unchanged),
  // 'residual' (a shared trainable map of every pretrained vector plus a per-word correction
  // of training words) or 'frozen' (no fine-tuning of pretrained vectors). Dev evidence
  // (docs/RESULTS.md, NER baseline, full schedule, H200, 2026-12-02): 'vectors' 94.64 / 94.29
  // (seeds 1, 2), 'residual' 94.59 / 94.10 / 94.25 (seeds 1-3), both at word_dropout 0.05:
  // 'vectors' by 0.12 on seeds 1-2, within the seed spread; 2026-12-07 (H100, seeds 1-3, with
  // rare-word dropout 0.5): 'frozen' 93.98 / 94.16 / 94.19 (94.11) against 'vectors' 94.74 /
  // 94.72 / 94.41 (94.62).
  word_fine_tuning:: 'vectors',
  // Share of training tokens embedded as a never-seen word in training (trains the
  // unknown-word vector and the tagger's use of pretrained-only vectors). Dev evidence
  // ('residual', same runs): 0.0: 94.30 / 94.23, 0.05: 94.59 / 94.10 / 94.25, 0.15:
  // 94.62 / 94.10 / 94.34; the differences are within the seed spread, 0.05 is the value
  // the fine-tuning comparison ran at.
  word_dropout:: 0.05,
  // The same for the rarest `rare_word_share` of the training word types (by training count),
  // which resemble the words test text has that training had not; null: `word_dropout`.
  // The rarest half is the words seen once (43% of eng.train's types) and some seen twice:
  // 4.9% of its tokens (CoNLL-2000 train.txt: 4.0%). Lample et al. (2016) replace singletons
  // at 0.5. The NER baseline sets 0.5 (its dev evidence there); the chunking baseline's dev
  // F1 did not move (95.34 against 95.31, 3 seeds, 2026-12-07); not yet tried on dev for
  // TagLM (scripts/gpu_study/taglm_variants.json).
  rare_word_dropout:: null,
  rare_word_share:: 0.5,
  // Character representation, 'cnn' or 'rnn'. The paper's NER tagger uses a 2-layer
  // bidirectional GRU with 80 hidden units over 25-dim character embeddings (Sec. 3);
  // this project's taggers use a CNN of width 3. Dev evidence (docs/RESULTS.md, tuning of
  // 2026-12-03, seeds 1-2, H200): NER 128 filters 94.45 / 94.60 against 30 filters 94.55 /
  // 94.24; the paper's character biGRU with a GRU task RNN 94.18 / 94.25; chunking (at
  // dropout 0.5) 128 filters 95.56 / 94.98 against 30 filters 95.01 / 95.08.
  char_encoder:: 'cnn',
  char_embedding_dim:: 25,
  char_cnn_filters:: 128,
  char_cnn_width:: 3,
  char_rnn_hidden:: 80,
  char_rnn_layers:: 2,
  char_dim:: if self.char_encoder == 'cnn' then self.char_cnn_filters else 2 * self.char_rnn_hidden,
  // Casing feature: an embedding of each word's casing class (`word_casing`: numeric, all
  // lower, all upper, initial upper, ...; Collobert et al. 2011, Reimers and Gurevych 2017)
  // beside the lowercased word vector, of `casing_dim` dimensions; 0 for none (the paper's).
  // Dev evidence (docs/RESULTS.md, 2026-12-07, H100, seeds 1-3, mean dev F1), 8 dimensions:
  // NER baseline 94.54 against none 94.62; chunking baseline 95.42 against 95.31 (chunking's
  // baseline sets it). Not yet tried for TagLM (scripts/gpu_study/taglm_variants.json).
  casing_dim:: 0,

  // ---- Task RNN (Sec. 2.2, sizes Sec. 3) ----
  cell:: 'lstm',  // 'gru' (the paper's NER choice) or 'lstm'
  hidden_sizes:: [300, 300],  // per direction, one entry per biRNN layer; [] = no task RNN
  rnn_dropout:: 0.25,  // on the input of every biRNN layer, not the recurrent connections
  // 'token': a mask per token; 'sentence': one per sentence and layer, shared by its tokens
  // (variational dropout, Gal and Ghahramani 2016; Reimers and Gurevych 2017). NER baseline
  // dev evidence (docs/RESULTS.md, 2026-12-07, seeds 1-3, mean dev F1): 'sentence' 94.38
  // against 'token' 94.41; beside rare-word dropout 0.5 94.42 against 94.71.
  rnn_dropout_mask:: 'token',
  // On the token representation (before the task RNN) and on the task RNN's output (before
  // the dense layer): CrfTagger's `dropout`; 0 for none. NER dev evidence (tuning of
  // 2026-12-03, seeds 1-2): 0 (30 filters) 94.55 / 94.24, 0.2 94.70 / 94.21, 0.5 94.13 / 93.76;
  // 0.5 with rnn_dropout 0.5 92.72 / 92.06. Chunking sets 0.5 (chunking.libsonnet).
  dropout:: 0.0,

  // ---- Language model embedding (Sec. 2.2, 2.3) ----
  // null for the baseline; otherwise a `frozen_bilm` TokenEmbedder config (bilm.libsonnet).
  lm_embedder:: null,
  lm_dim:: 0,
  // 0: concatenate to the input of layer 1; 1: to the output of layer 1 (the paper's best);
  // 2: to the output of layer 2.
  lm_injection_layer:: 1,
  lm_token_indexer:: null,

  // ---- Training (Sec. 3): Adam at 0.001, gradient norm clipped at 5; the paper states no
  // batch size. The learning-rate schedule is the paper's (see `learning_rate_scheduler`).
  batch_size:: 64,
  learning_rate:: 0.001,
  // Epochs without dev improvement before the first lr/10 step.
  schedule_patience:: 3,
  grad_norm:: 5.0,
  num_epochs:: std.parseInt(std.extVar('NUM_EPOCHS')),
  cuda_device:: std.parseInt(std.extVar('CUDA_DEVICE')),

  local has_lm = self.lm_embedder != null,
  local has_casing = self.casing_dim > 0,
  local char_embedding = { embedding_dim: $.char_embedding_dim, vocab_namespace: 'token_characters' },

  dataset_reader: self.reader {
    output_tag_scheme: $.output_tag_scheme,
    token_indexers: {
      tokens: { type: 'normalized_single_id', pretrained_namespace: 'pretrained_tokens' },
      token_characters: { type: 'cached_characters', min_padding_length: $.char_cnn_width },
    } + (if has_casing then { casing: { type: 'word_casing' } } else {})
    + (if has_lm then { lm: $.lm_token_indexer } else {}),
  },
  vocabulary: { type: 'tagger_vocabulary', pretrained_file: $.word_embeddings },
  datasets_for_vocab_creation: ['train'],
  train_data_path: self.train_data,
  validation_data_path: self.validation_data,

  model: {
    type: 'taglm_tagger',
    label_encoding: $.output_tag_scheme,
    constrain_crf_decoding: true,
    calculate_span_f1: true,
    include_start_end_transitions: true,
    [if $.dropout > 0 then 'dropout']: $.dropout,
    text_field_embedder: {
      token_embedders: {
        tokens: {
          type: 'taglm_word_embedding',
          embedding_dim: $.word_dim,
          pretrained_file: $.word_embeddings,
          fine_tuning: $.word_fine_tuning,
          word_dropout: $.word_dropout,
          [if $.rare_word_dropout != null then 'rare_word_dropout']: $.rare_word_dropout,
          [if $.rare_word_dropout != null then 'rare_word_share']: $.rare_word_share,
        },
        token_characters: {
          type: 'character_encoding',
          embedding: char_embedding,
          encoder: if $.char_encoder == 'cnn' then {
            type: 'cnn',
            embedding_dim: $.char_embedding_dim,
            num_filters: $.char_cnn_filters,
            ngram_filter_sizes: [$.char_cnn_width],
            conv_layer_activation: 'relu',
          } else {
            type: 'gru',
            input_size: $.char_embedding_dim,
            hidden_size: $.char_rnn_hidden,
            num_layers: $.char_rnn_layers,
            bidirectional: true,
          },
        },
        [if has_casing then 'casing']: {
          type: 'embedding',
          embedding_dim: $.casing_dim,
          vocab_namespace: 'casing',
        },
      },
    },
    encoder: {
      type: 'taglm_birnn',
      input_size: $.word_dim + $.char_dim + $.casing_dim,
      cell: $.cell,
      hidden_sizes: $.hidden_sizes,
      dropout: $.rnn_dropout,
      [if $.rnn_dropout_mask != 'token' then 'dropout_mask']: $.rnn_dropout_mask,
      lm_dim: $.lm_dim,
      [if has_lm then 'lm_injection_layer']: $.lm_injection_layer,
    },
    [if has_lm then 'lm_embedder']: $.lm_embedder,
    [if has_lm then 'lm_tokens_key']: 'lm',
  },

  // allennlp's batches, padded with numpy in one pass per batch (allennlp's per-instance
  // padding takes most of the host's time in a GPU epoch otherwise).
  local collate_fn = { type: 'taglm_vectorized' },
  data_loader: {
    batch_sampler: { type: 'bucket', batch_size: $.batch_size },
    collate_fn: collate_fn,
  },
  // Unshuffled and unbucketed: the bucket sampler draws random numbers even without
  // shuffling, which would make `--recover` differ from an uninterrupted run.
  validation_data_loader: { batch_size: $.batch_size, collate_fn: collate_fn },
  // `allennlp evaluate --predictions-output-file`: one JSON line per sentence (words, predicted
  // and gold tags) instead of allennlp's one line of tensors per batch.
  evaluation: { batch_serializer: { type: 'taglm_tagger_predictions' } },

  trainer: {
    cuda_device: $.cuda_device,
    num_epochs: $.num_epochs,
    grad_norm: $.grad_norm,
    validation_metric: '+f1-measure-overall',
    optimizer: { type: 'adam', lr: $.learning_rate },
    // Train to the best dev epoch, then lr/10 for 5 epochs, lr/10 again for 5, then stop.
    learning_rate_scheduler: { type: 'taglm_step_down', patience: $.schedule_patience },
    // `--recover` resumes exactly: torch's RNG state, a fallback from a checkpoint cut short
    // by a kill, and a run killed after its last checkpoint ends without training again, with
    // its full metrics (tests/reliability/test_interrupted_training.py). The loaded instances
    // are kept out of Python's full garbage collections (0.6 s each with the TagLM indexers).
    // Checkpoints leave out the frozen tensors read from files (LMs, the pretrained word
    // table), which `best.th` gets back at the end (`taglm_standalone_best_weights`).
    callbacks: [
      'taglm_stop_after_schedule',
      'taglm_torch_rng_checkpoint',
      'taglm_training_end_checkpoint',
      'taglm_gc_freeze',
      'taglm_standalone_best_weights',
    ],
    checkpointer: { type: 'taglm_crash_safe' },
  },
} + seed + distributed
