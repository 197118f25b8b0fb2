"""Data: the clean training photographs (Debian packages or a folder of your own, with their
manifest) and the app's example photos.

May import: ``restore.images``, numpy, PIL, OpenCV. Never imports torch models or the app.
"""
