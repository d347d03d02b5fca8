"""Participants: the node's mirror of ParticipantRegistry, kept in step with the chain."""
