"""The review page in a browser (`claimcourt serve`): the same review desk as the terminal, for a team."""
