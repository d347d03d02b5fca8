"""Chain access: contract artifacts, deployment, error decoding, the embedded chain.

Never imports the store; the services are where chain and store meet.
"""
