"""Dreamer Studio: the desktop app that trains DreamerV3 live while you watch and poke at its world model."""
