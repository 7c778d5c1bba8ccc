passwd last cloudauth
group last cloudauth
