"""mailsim.analysis"""
