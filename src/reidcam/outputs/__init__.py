"""Where results go besides the identity memory: event sinks that write files for a command.

``search_folders`` writes the ``reidcam search`` output folders of the product brief.
"""
