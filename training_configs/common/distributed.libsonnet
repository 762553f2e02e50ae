// allennlp's distributed training (torch DDP, one worker process per device) from the
// CUDA_DEVICES environment variable, a comma-separated list of devices:
//
//   CUDA_DEVICES=0,1 allennlp train training_configs/ner/baseline.jsonnet -s runs/ner/ddp
//   CUDA_DEVICES=-1,-1 ...   (two CPU workers over gloo; for tests)
//
// Empty (the default, taglm_plugin/common/config_defaults.py) trains in one process on CUDA_DEVICE.
// Each worker reads every world_size-th instance and makes its own batches of the config's
// batch size: the batch size is per worker, an optimizer step sees world_size batches.
//
// Use: add it to the top-level object; it sets the top-level key `distributed` or nothing.
local devices = std.extVar('CUDA_DEVICES');

if devices == '' then {} else {
  distributed: { cuda_devices: [std.parseInt(std.stripChars(device, ' ')) for device in std.split(devices, ',')] },
}
