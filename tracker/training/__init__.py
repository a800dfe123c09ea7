"""Training the project's own networks: the built-in detector (on synthetic videos) and the LSTM
motion model (on KITTI and synthetic trajectories). Above the stages and the synthetic
generator it draws on; nothing below imports it."""
