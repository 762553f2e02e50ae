// A unidirectional language model for TagLM (Peters et al., ACL 2017), trained on unlabeled
// text with `taglm_lm_text` + `taglm_language_model`. forward.jsonnet and backward.jsonnet set
// `direction`; the backward LM reads every sentence reversed. The two share no parameters.
//
//   chars of w_k -> char CNN + highway (LM_CHAR_CNN) -> stacked LSTMP
//   (`StackedProjectionLstm`) -> softmax over the `lm_targets` words (sampled in training,
//   full for the validation perplexity)
//
// Environment variables (defaults in taglm_plugin/common/config_defaults.py):
//   LM_SIZE                 'paper', 'budget' or 'small' (the presets below)
//   LM_TRAIN_DATA           text file(s) or glob, e.g. a WikiExtractor .tar.gz; every
//                           `held_out_every`-th document is held out for validation
//   LM_TIME_BUDGET_SECONDS  stop training after this many seconds (whole epochs); 0 = no limit
//   LM_CACHE_DIR            directory of the token cache: the text is tokenized once into it
//                           and batches are built from it (`taglm_lm_cache` data loader);
//                           "" = tokenize and index every epoch in allennlp's multi-process
//                           loader (num_workers), as `taglm_multiprocess`, which stops the
//                           workers at exit (allennlp's could hang there after an epoch cut
//                           short by `batches_per_epoch`)
//   LM_TOKENIZING_PROCESSES processes that tokenize the text into the token cache (once);
//                           0 = one per CPU core
//   LM_PRECISION            'float32', 'bfloat16' (autocast in the model, float32 softmax) or
//                           'float16' (allennlp's trainer.use_amp: autocast + GradScaler)
//   LM_LSTM_PRECISION       'float32' (only the token encoder in bfloat16/float16) or 'mixed'
//                           (the LSTMs in LM_PRECISION; model.lstm_precision)
//   LM_SOFTMAX_PRECISION    'float32' or 'bfloat16': operands of the sampled softmax's logits
//                           products in training (tensor cores; float32 accumulation and
//                           logits; model.softmax_precision)
//   LM_CHAR_CNN             'fused' (`taglm_fused_cnn_highway`: the convolutions of all widths
//                           as one matrix product) or 'allennlp' (`cnn-highway`): the same
//                           parameters and outputs; an archive loads into either
//   CUDA_DEVICE             -1 for the CPU, 0 for the first GPU
//   CUDA_DEVICES            distributed training on these devices, e.g. 0,1
//                           (../common/distributed.libsonnet; batch_size is per worker)
//   SEED                    random, numpy and torch seeds (../common/seed.libsonnet)
local distributed = import '../common/distributed.libsonnet';
local seed = import '../common/seed.libsonnet';

local sizes = {
  // The paper's architecture. LSTM: "LSTM-2048-512", the smaller LM of Peters et al. (2017)
  // (Sec. 3-4 as the project brief cites them): 2 layers of 2048 units, each projected to 512.
  // Token encoder: the character CNN with highway layers of CNN-BIG-LSTM (Jozefowicz et al.,
  // 2016) with the sizes of the options file of ELMo's released biLM
  // (elmo_2x4096_512_2048cnn_2xhighway): 16-dim character embeddings, 2048 filters of widths
  // 1-7, 2 highway layers, projected to 512. Residual connection between the LSTM layers and
  // 8192 sampled softmax words per batch, also as in that biLM (bilm-tf).
  paper: {
    char_embedding_dim: 16,
    char_filters: [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
    num_highway: 2,
    token_dim: 512,
    hidden_size: 2048,
    projection_size: 512,
    num_layers: 2,
    dropout: 0.1,
    num_samples: 8192,
    batch_size: 128,  // sentences (Wikipedia: ~24 tokens each)
    learning_rate: 0.001,  // Adam's
    // An "epoch" is 2000 batches (~6M tokens): validation, checkpoint and time-budget check.
    batches_per_epoch: 2000,
    num_epochs: 100,
    num_workers: 8,
  },
  // For a run of a few GPU minutes whose encoder-only export (fp16, see
  // taglm_plugin/lm/encoder_export.py) must stay under 16 MiB: ~5.4M encoder parameters
  // (512 filters of widths 1-5, 1 highway layer, 2 x LSTM-1024-256).
  budget: self.paper {
    char_filters: [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256]],
    num_highway: 1,
    token_dim: 256,
    hidden_size: 1024,
    projection_size: 256,
    // Batch size and learning rate for the lowest held-out perplexity after a fixed time
    // (docs/PERFORMANCE.md, 2026-12-07, H200, forward and backward side by side as the study
    // trains them, bf16, 180 s each): 512 sentences at Adam 0.003 99.2 / 97.2 (forward /
    // backward, after 168 s, 50.1M tokens, 297k tokens/s each), 512 at 0.002 107.5 / 102.8,
    // 512 at 0.001 127.8 / 129.0, 1024 at 0.002 128.0 / 113.3, 1024 at 0.004 135.1 / 119.7,
    // 128 at 0.001 (as `paper`) 122.3 / 119.6 (after 177 s, 25.1M tokens, 142k tokens/s).
    // One run each; 0.003 is the highest rate tried at 512, and budgets over 180 s untried.
    batch_size: 512,
    learning_rate: 0.003,
    // Epochs of 500 batches (~6M tokens, ~20 s on an H200 beside the other LM): a budget of a
    // few minutes gets a validation (a few seconds) and a time-budget check every epoch.
    batches_per_epoch: 500,
    num_epochs: 1000,  // LM_TIME_BUDGET_SECONDS ends it
  },
  // Trains in seconds on a CPU; for tests.
  small: {
    char_embedding_dim: 8,
    char_filters: [[1, 8], [2, 8], [3, 16]],
    num_highway: 1,
    token_dim: 16,
    hidden_size: 32,
    projection_size: 16,
    num_layers: 2,
    dropout: 0.0,
    num_samples: 32,
    batch_size: 8,
    learning_rate: 0.001,
    batches_per_epoch: null,
    num_epochs: 2,
    num_workers: 0,
  },
};

{
  direction:: error 'direction must be set',
  size:: std.extVar('LM_SIZE'),
  train_data:: std.extVar('LM_TRAIN_DATA'),
  time_budget_seconds:: std.parseJson(std.extVar('LM_TIME_BUDGET_SECONDS')),
  cuda_device:: std.parseInt(std.extVar('CUDA_DEVICE')),
  cache_directory:: std.extVar('LM_CACHE_DIR'),
  tokenizing_processes:: std.parseInt(std.extVar('LM_TOKENIZING_PROCESSES')),
  precision:: std.extVar('LM_PRECISION'),
  softmax_precision:: std.extVar('LM_SOFTMAX_PRECISION'),
  lstm_precision:: std.extVar('LM_LSTM_PRECISION'),
  char_cnn:: std.extVar('LM_CHAR_CNN'),
  held_out_every:: 100,
  max_sentence_length:: 100,
  vocab_size:: 50000,
  learning_rate:: preset.learning_rate,
  grad_norm:: 5.0,

  local preset =
    if std.objectHas(sizes, $.size) then sizes[$.size]
    else error 'LM_SIZE must be one of %s, not %s' % [std.join(', ', std.objectFields(sizes)), $.size],
  local precisions = ['float32', 'bfloat16', 'float16'],
  assert std.member(precisions, $.precision)
         : 'LM_PRECISION must be one of %s, not %s' % [std.join(', ', precisions), $.precision],
  local lstm_precisions = ['mixed', 'float32'],
  assert std.member(lstm_precisions, $.lstm_precision)
         : 'LM_LSTM_PRECISION must be one of %s, not %s'
           % [std.join(', ', lstm_precisions), $.lstm_precision],
  local char_cnns = { allennlp: 'cnn-highway', fused: 'taglm_fused_cnn_highway' },
  assert std.objectHas(char_cnns, $.char_cnn)
         : 'LM_CHAR_CNN must be one of %s, not %s'
           % [std.join(', ', std.objectFields(char_cnns)), $.char_cnn],
  local softmax_precisions = ['float32', 'bfloat16'],
  assert std.member(softmax_precisions, $.softmax_precision)
         : 'LM_SOFTMAX_PRECISION must be one of %s, not %s'
           % [std.join(', ', softmax_precisions), $.softmax_precision],
  local loader(batch_size, batches_per_epoch, shuffle) =
    if $.cache_directory != '' then {
      type: 'taglm_lm_cache',
      batch_size: batch_size,
      cache_directory: $.cache_directory,
      tokenizing_processes: $.tokenizing_processes,
      shuffle: shuffle,
      // Sentences sorted by length together, in batches (less padding).
      sorting_pool_batches: 20,
      // Rows of distinct token types per batch rounded up to a multiple of 256: the char CNN's
      // convolutions repeat a few shapes and cuDNN reuses their plans.
      pad_types_to_multiple: 256,
      [if batches_per_epoch != null then 'batches_per_epoch']: batches_per_epoch,
    } else {
      type: 'taglm_multiprocess',
      batch_sampler: { type: 'bucket', batch_size: batch_size, sorting_keys: ['tokens'] },
      // Instances each data loader worker sorts into buckets at a time.
      max_instances_in_memory: 20 * batch_size,
      num_workers: preset.num_workers,
      [if batches_per_epoch != null then 'batches_per_epoch']: batches_per_epoch,
    },

  dataset_reader: {
    type: 'taglm_lm_text',
    direction: $.direction,
    token_indexers: { elmo: { type: 'elmo_characters' } },
    max_sentence_length: $.max_sentence_length,
    held_out_every: $.held_out_every,
    split: 'train',
  },
  validation_dataset_reader: self.dataset_reader { split: 'held_out' },
  train_data_path: $.train_data,
  validation_data_path: $.train_data,
  datasets_for_vocab_creation: ['train'],
  // With the token cache, the vocabulary is counted from it (the same as from_instances').
  vocabulary: {
    max_vocab_size: { lm_targets: $.vocab_size },
  } + if $.cache_directory != '' then {
    type: 'taglm_lm_token_cache',
    data_path: $.train_data,
    dataset_reader: $.dataset_reader,
    cache_directory: $.cache_directory,
  } else { type: 'from_instances' },

  model: {
    type: 'taglm_language_model',
    direction: $.direction,
    text_field_embedder: {
      token_embedders: {
        elmo: {
          type: 'character_encoding',
          // elmo_characters ids: 261 characters/markers + padding 0.
          embedding: { num_embeddings: 262, embedding_dim: preset.char_embedding_dim },
          encoder: {
            type: char_cnns[$.char_cnn],
            embedding_dim: preset.char_embedding_dim,
            filters: preset.char_filters,
            num_highway: preset.num_highway,
            projection_dim: preset.token_dim,
            activation: 'relu',
            projection_location: 'after_highway',
          },
        },
      },
    },
    encoder: {
      input_size: preset.token_dim,
      hidden_size: preset.hidden_size,
      projection_size: preset.projection_size,
      num_layers: preset.num_layers,
      dropout: preset.dropout,
      residual_connections: true,
    },
    dropout: preset.dropout,
    softmax: 'sampled',
    num_samples: preset.num_samples,
    [if $.precision == 'bfloat16' then 'mixed_precision']: 'bfloat16',
    softmax_precision: $.softmax_precision,
    [if $.lstm_precision != 'mixed' then 'lstm_precision']: $.lstm_precision,
  },

  data_loader: loader(preset.batch_size, preset.batches_per_epoch, shuffle=true),
  // Validation batches of 128 sentences whatever the training's, as measured (the perplexity
  // does not depend on them; the GPU memory does).
  validation_data_loader: loader(std.min(128, preset.batch_size), null, shuffle=false),

  trainer: {
    cuda_device: $.cuda_device,
    num_epochs: preset.num_epochs,
    grad_norm: $.grad_norm,
    [if $.precision == 'float16' then 'use_amp']: true,
    validation_metric: '-perplexity',
    optimizer: { type: 'adam', lr: $.learning_rate },
    checkpointer: { keep_most_recent_by_count: 1 },
    callbacks: [
      { type: 'taglm_token_throughput' },
      { type: 'taglm_stop_after_seconds', seconds: $.time_budget_seconds },
    ],
  },
} + seed + distributed
