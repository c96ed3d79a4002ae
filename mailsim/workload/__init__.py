"""mailsim.workload"""
