"""The head's end of network boot: per-node iPXE scripts and install reports, from ODA.

``scripts`` renders what a node boots; ``service`` is the small HTTP service
behind the head's web server (nginx) that serves those scripts and the install
plan, and records each node's install stages in ODA.
"""
