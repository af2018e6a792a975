"""Booking's API (/api/v1/): bookings and campaigns, thin views over
booking.selectors and booking.services with the staff pages' tenancy and words."""
