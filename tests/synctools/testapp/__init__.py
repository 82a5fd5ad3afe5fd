"""Models used only by the synctools tests and benchmark: FK, self-FK, M2M, natural keys, files."""
