"""Thread and process plumbing shared by the pipeline and the services around it.

``worker`` (a restartable background thread), ``threads`` (every runtime's thread counts,
decided once), ``priority`` (detection before viewers: nicer server threads), ``allocator``
(glibc malloc settings for a process that decodes video for weeks). No stage logic here.
"""
