"""Cold-start recommendation: rank songs nobody has played from their predicted factors."""
