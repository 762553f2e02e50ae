from taglm_plugin.data.fields.gold_tag_field import UNSEEN_TAG_ID, GoldTagField, TagSource
