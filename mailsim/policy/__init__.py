"""mailsim.policy"""
