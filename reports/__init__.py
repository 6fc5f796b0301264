"""Monthly reports for supervisors and deputies (built in the reports issue)."""
