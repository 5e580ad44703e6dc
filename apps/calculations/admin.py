# MetricHistory is not registered: the Django 5.2 admin does not support models with a composite primary key.
