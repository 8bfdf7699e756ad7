"""User-facing flow models: Flow, mapped parameters, FlowOfFlows."""
