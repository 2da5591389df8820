external_url 'https://gitlab.example.com'
