"""The media library: uploads, the derivatives job, signed URLs, and the image and video engines."""
