from taglm_plugin.evaluation.tagger_predictions_serializer import (  # noqa: F401
    TaggerPredictionsSerializer,
)
