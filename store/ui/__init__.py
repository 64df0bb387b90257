"""Output for people and scripts: imgpkg's terminal shapes (``console``) and the live
progress line of long copies (``progress``).

Imports nothing else of the store.
"""
