"""The weekly plan: a venue's recurring slots, their text templates, and the posts made from them each week."""
