"""mailsim.scenario"""
