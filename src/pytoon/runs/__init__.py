"""Production runs: a brief becomes ideas, a person approves them, engines make the clips, a V2 job renders
them, a person approves the video and it is published. The ProductionRun state machine drives the steps."""
