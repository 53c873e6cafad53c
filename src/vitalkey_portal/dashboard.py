"""(to be built: issue #20)"""
