"""Model inputs that are not computed from audio: Echo Nest segment features of the MSD."""
