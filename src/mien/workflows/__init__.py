"""Applications that write files: the job code behind ``mien analyze``, ``video``, ``live`` and ``micro``.

The library (:mod:`mien.analyzer`, :mod:`mien.video`, :mod:`mien.micro`, :mod:`mien.viz`) returns values;
the modules here turn them into tables, overlays, plots and summaries, resume interrupted outputs and
report progress. The command line (:mod:`mien.cli`) only parses options and formats what these return.

    images.py   analyse images into a table and overlay images (mien analyze)
    video.py    analyse videos into a frame table, per-track summary, overlay videos and plots (mien video)
    live.py     analyse a camera, stream or file as it plays (mien live)
    micro.py    micro-expression recognition and spotting with their outputs (mien micro)
    overlays.py overlay image names and files (mien analyze --overlay)
    video_writer.py  the MP4 writer the overlays use
"""
