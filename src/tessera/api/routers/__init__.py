"""One router per domain; routers validate, authenticate and call a service. No rules here."""
