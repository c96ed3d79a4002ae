"""mailsim.sim"""
