# Helper module of the chrome hangs job.
def top_frame(stack):
    if len(stack) == 0:
        return "(empty)"
    return stack[0]
