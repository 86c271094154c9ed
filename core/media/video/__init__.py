"""The video engine: ffprobe/ffmpeg lookup, probing, checks and transcoding."""
